/* bo1d: argv/env -> config -> wire modules -> run. Nothing else. */
#include <stdio.h>

int main(void)
{
    fputs("bo1d: not wired yet\n", stderr);
    return 1;
}
