/* bo1d: argv/env -> config -> wire modules -> run. Nothing else. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bo1/app.h"
#include "bo1/config.h"

extern char **environ;

int main(int argc, char **argv)
{
    struct bo1_app app;
    enum bo1_status st;
    sigset_t set;

    if (argc > 1 && strcmp(argv[1], "--config-table") == 0) {
        bo1_config_write_table(stdout, 0);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--env-example") == 0) {
        bo1_config_write_table(stdout, 1);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr,
                "usage: %s [--config-table | --env-example]\n"
                "Configuration comes from the environment and .env; see README.md.\n",
                argv[0]);
        return 2;
    }

    /* Block the stop signals before any thread starts, so only sigwait() sees them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    st = bo1_app_start(&app, environ);
    if (st == BO1_OK)
        st = bo1_app_run(&app);
    bo1_app_stop(&app);
    return st == BO1_OK ? 0 : 1;
}
