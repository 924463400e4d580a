// SPDX-License-Identifier: Apache-2.0
// cxx_throw N: after a line on stdin, throws and catches N exceptions (libstdc++'s
// libstdcxx:throw USDT probe fires for each), then prints "done".
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 3, caught = 0;
	char line[16];
	setvbuf(stdout, nullptr, _IONBF, 0);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < n; i++) {
		try {
			throw std::runtime_error("x");
		} catch (const std::exception &) {
			caught++;
		}
	}
	printf("caught=%d\ndone\n", caught);
	return 0;
}
