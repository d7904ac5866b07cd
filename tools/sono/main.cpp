// Placeholder entry point until the subcommands land.
#include <cstdio>
int main() { std::puts("sono"); return 0; }
