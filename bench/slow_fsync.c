/* LD_PRELOAD shim: every fsync/fdatasync sleeps SLOW_FSYNC_MS first, so the intake
 * benchmark can show figures under an SD card's millisecond flushes on a fast disk. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static void pause_ms(void) {
    const char *env = getenv("SLOW_FSYNC_MS");
    double ms = env ? atof(env) : 0.0;
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (long)(ms / 1000) * 1000) * 1e6)};
    nanosleep(&ts, NULL);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    pause_ms();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    pause_ms();
    return real(fd);
}
