/* openloop: a fixed-rate (open loop) request generator in C for `freshrec bench lookup`.
 *
 * Why C: redis-benchmark has no fixed-rate mode, and a Python generator's own scheduling jitter on a
 * 2-core machine was as large as the latencies it measured (its bare-HGET floor ranged 0.67-2.25 ms over
 * three sittings). This one sends request i at t0 + i/rate whatever came back, waits with a timerfd
 * (microsecond precision, no spinning), keeps at most one request in flight per connection (a request
 * due while all are busy waits for the first free one), and times each from its *scheduled* send time,
 * so a stall anywhere (generator included) shows in the figure instead of slowing the rate.
 *
 * Two protocols, one schedule:
 *   --resp  HGET <prefix>rec:user:u<n> body (or rec:item:i<n> for anonymous requests) straight to Redis
 *           over TCP, after AUTH/SELECT: Redis's own latency at this rate and concurrency (the bound);
 *   --line  "<user or -> <item>\n" to freshrec/benchmarks/lookup_host.py over a UNIX socket, answered
 *           "1\n" or "0 <reason>\n": the client under test at the same rate.
 * Request ids follow freshrec/benchmarks/serving.py `_request_ids` (10 % anonymous).
 *
 * Prints one JSON object: p50/p90/p99/p999/max ms, requests, errors, the achieved rate, own CPU ms, and
 * how late it sent (start_lag_*: scheduled to actual send; the part of the latency that is its own).
 * Build: cc -O2 -o openloop openloop.c (freshrec/benchmarks/openloop.py does it once per source hash).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd, busy;
    double scheduled;   /* scheduled send time of the request in flight */
    char in[1 << 16];
    size_t have;
} Conn;

static int resp_mode;
static const char *prefix = "";
static long users = 10000, items = 2000;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what) {
    fprintf(stderr, "openloop: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void request_ids(long i, long *user, long *item) {
    uint32_t h = (uint32_t)((uint64_t)i * 2654435761u);
    *user = (h % 10 == 0) ? -1 : (long)(h % (uint32_t)users);
    *item = (long)((h >> 8) % (uint32_t)items);
}

static int format_request(long i, char *out, size_t cap) {
    long user, item;
    char key[256];
    request_ids(i, &user, &item);
    if (!resp_mode)
        return user < 0 ? snprintf(out, cap, "- i%ld\n", item) : snprintf(out, cap, "u%ld i%ld\n", user, item);
    int n = user < 0 ? snprintf(key, sizeof key, "%srec:item:i%ld", prefix, item)
                     : snprintf(key, sizeof key, "%srec:user:u%ld", prefix, user);
    return snprintf(out, cap, "*3\r\n$4\r\nHGET\r\n$%d\r\n%s\r\n$4\r\nbody\r\n", n, key);
}

/* Length of one complete reply at the start of buf (0: not complete yet); *ok says whether it is a hit. */
static size_t complete_reply(const char *buf, size_t have, int *ok) {
    const char *nl = memchr(buf, '\n', have);
    if (!nl) return 0;
    size_t head = (size_t)(nl - buf) + 1;
    if (!resp_mode) { *ok = buf[0] == '1'; return head; }
    if (buf[0] != '$') { *ok = 0; return head; }          /* -ERR, +OK, :n : one line */
    long len = strtol(buf + 1, NULL, 10);
    if (len < 0) { *ok = 0; return head; }                /* nil: the key is missing */
    if (have < head + (size_t)len + 2) return 0;
    *ok = 1;
    return head + (size_t)len + 2;
}

static void send_all(int fd, const char *buf, size_t n) {
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) { if (errno == EINTR || errno == EAGAIN) continue; die("write"); }
        buf += w; n -= (size_t)w;
    }
}

/* Blocking setup command on a fresh connection (AUTH, SELECT); exits on an error reply. */
static void setup_command(int fd, const char *cmd, size_t n) {
    char buf[512];
    send_all(fd, cmd, n);
    ssize_t r = read(fd, buf, sizeof buf - 1);
    if (r <= 0) die("setup read");
    buf[r] = 0;
    if (buf[0] == '-') { fprintf(stderr, "openloop: redis refused setup: %s", buf); exit(2); }
}

static int connect_to(const char *unix_path, const char *host, int port) {
    int fd;
    if (unix_path) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, unix_path, sizeof a.sun_path - 1);
        if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0) die("socket");
        if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect (unix)");
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (inet_pton(AF_INET, host, &a.sin_addr) != 1) { fprintf(stderr, "openloop: bad host %s\n", host); exit(2); }
        if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0) die("socket");
        if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect (tcp)");
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *sorted, long n, double p) {
    if (n == 0) return 0;
    long i = (long)(p / 100.0 * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1] * 1000.0;
}

int main(int argc, char **argv) {
    const char *unix_path = NULL, *host = "127.0.0.1", *user = NULL, *password = NULL;
    int port = 6379, conns = 16, db = 0;
    double rate = 2000, seconds = 10;
    long warm = 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--resp")) { resp_mode = 1; continue; }
        if (!strcmp(a, "--line")) { resp_mode = 0; continue; }
        if (!v) { fprintf(stderr, "openloop: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--unix")) unix_path = v;
        else if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--user")) user = v;
        else if (!strcmp(a, "--password")) password = v;
        else if (!strcmp(a, "--db")) db = atoi(v);
        else if (!strcmp(a, "--prefix")) prefix = v;
        else if (!strcmp(a, "--users")) users = atol(v);
        else if (!strcmp(a, "--items")) items = atol(v);
        else if (!strcmp(a, "--rate")) rate = atof(v);
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--conns")) conns = atoi(v);
        else if (!strcmp(a, "--warm-up")) warm = atol(v);
        else { fprintf(stderr, "openloop: unknown option %s\n", a); return 2; }
    }
    if (rate <= 0 || seconds <= 0 || conns < 1 || users < 1 || items < 1) {
        fprintf(stderr, "openloop: --rate, --seconds, --conns, --users, --items must be positive\n");
        return 2;
    }
    Conn *c = calloc((size_t)conns, sizeof *c);
    int ep = epoll_create1(0);
    for (int i = 0; i < conns; i++) {
        c[i].fd = connect_to(unix_path, host, port);
        char cmd[768];
        if (resp_mode && password) {
            int n = user ? snprintf(cmd, sizeof cmd, "*3\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
                                    strlen(user), user, strlen(password), password)
                         : snprintf(cmd, sizeof cmd, "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n", strlen(password), password);
            setup_command(c[i].fd, cmd, (size_t)n);
        }
        if (resp_mode && db) {
            char d[16];
            int dl = snprintf(d, sizeof d, "%d", db);
            int n = snprintf(cmd, sizeof cmd, "*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n", dl, d);
            setup_command(c[i].fd, cmd, (size_t)n);
        }
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &e) < 0) die("epoll_ctl");
    }
    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct epoll_event te = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &te);

    /* warm-up requests (ids the measured phase does not use) go first, at the same rate, untimed */
    long total = warm + (long)(rate * seconds);
    double *lat = malloc(sizeof(double) * (size_t)(total + 1));
    double *lag = malloc(sizeof(double) * (size_t)(total + 1)); /* scheduled to actual send: our own lateness */
    long lagged = 0;
    long next = 0, done = 0, measured = 0, errors = 0;
    double t0 = now_s() + 0.01, t_end = 0;
    while (done < total) {
        double now = now_s();
        /* send every due request that has a free connection */
        for (int i = 0; i < conns && next < total && t0 + next / rate <= now; i++) {
            if (c[i].busy) continue;
            char req[512];
            int n = format_request(next < warm ? -1 - next : next - warm, req, sizeof req);
            c[i].busy = 1;
            c[i].scheduled = t0 + next / rate;
            if (next >= warm) lag[lagged++] = now_s() - c[i].scheduled;
            c[i].have = 0;
            next++;
            send_all(c[i].fd, req, (size_t)n);
        }
        int idle_free = 0;
        for (int i = 0; i < conns; i++) idle_free |= !c[i].busy;
        if (next < total && idle_free) {
            double due = t0 + next / rate;
            struct itimerspec its = {0};
            its.it_value.tv_sec = (time_t)due;
            its.it_value.tv_nsec = (long)((due - (double)(time_t)due) * 1e9);
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        }
        struct epoll_event ev[64];
        int n = epoll_wait(ep, ev, 64, 1000);
        if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
        double got = now_s();
        for (int k = 0; k < n; k++) {
            uint32_t i = ev[k].data.u32;
            if (i == UINT32_MAX) { uint64_t x; if (read(tfd, &x, sizeof x) < 0 && errno != EAGAIN) die("timerfd"); continue; }
            if (c[i].have == sizeof c[i].in) { fprintf(stderr, "openloop: a reply over %zu bytes\n", sizeof c[i].in); return 2; }
            ssize_t r = read(c[i].fd, c[i].in + c[i].have, sizeof c[i].in - c[i].have);
            if (r <= 0) { if (r < 0 && errno == EINTR) continue; fprintf(stderr, "openloop: connection closed\n"); return 2; }
            c[i].have += (size_t)r;
            int ok = 0;
            size_t len = complete_reply(c[i].in, c[i].have, &ok);
            if (!len) continue;
            if (done >= warm) { lat[measured++] = got - c[i].scheduled; errors += !ok; }
            done++;
            c[i].busy = 0;
            t_end = got;
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
    double measured_s = t_end - (t0 + warm / rate);
    qsort(lat, (size_t)measured, sizeof *lat, cmp_double);
    qsort(lag, (size_t)lagged, sizeof *lag, cmp_double);
    printf("{\"requests\": %ld, \"errors\": %ld, \"rate\": %.1f, \"achieved_rps\": %.1f, \"conns\": %d, "
           "\"p50_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, \"p999_ms\": %.4f, \"max_ms\": %.4f, "
           "\"start_lag_p50_ms\": %.4f, \"start_lag_p99_ms\": %.4f, \"cpu_ms_per_request\": %.4f}\n",
           measured, errors, rate, measured_s > 0 ? measured / measured_s : 0.0, conns,
           pct(lat, measured, 50), pct(lat, measured, 90), pct(lat, measured, 99), pct(lat, measured, 99.9),
           measured ? lat[measured - 1] * 1000.0 : 0.0, pct(lag, lagged, 50), pct(lag, lagged, 99), cpu * 1000.0 / (double)(total ? total : 1));
    return 0;
}
