// SPDX-License-Identifier: Apache-2.0
/* shm_ops: after a line on stdin, shmget (private key, 65536 bytes, IPC_CREAT|0600), shmat
 * read-only, shmdt, shmctl IPC_RMID; prints each return value, then "done". */
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(void)
{
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	int id = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0600);
	void *addr = shmat(id, NULL, SHM_RDONLY);
	int dt = shmdt(addr);
	int ctl = shmctl(id, IPC_RMID, NULL);
	printf("id=%x addr=%p dt=%d ctl=%d\ndone\n", id, addr, dt, ctl);
	return 0;
}
