/* Persistent thread pool; see threadpool.h. Tasks are claimed from one atomic counter, so uneven
 * task costs balance themselves; a generation counter tells workers that new work is posted. */
#include "util/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define SPIN_ROUNDS 200000 /* about 50-100 microseconds of spinning before a worker sleeps */

static struct {
    int size; /* threads including the caller */
    pthread_t threads[POOL_MAX_THREADS];
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_uint generation;      /* bumped for each pool_run and for shutdown */
    unsigned start_generation;   /* the generation new workers start from (read before they exist,
                                    so a shutdown posted before a worker first runs is not missed) */
    /* The claim word packs [63:40] run id, [39:20] task count, [19:0] next task index, so a worker
     * can only claim a task of the run that is posted now: a late worker of an earlier run fails
     * its compare-and-swap instead of running a stale index. */
    _Atomic unsigned long long claim;
    atomic_int tasks_done;
    atomic_int sleepers;
    unsigned long long run_id;
    PoolTask task;
    void *context;
    atomic_int stopping;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static _Thread_local int worker_index = 0;
static _Thread_local int inside_task = 0;

int cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_tasks(void) {
    inside_task = 1;
    unsigned long long word = atomic_load_explicit(&pool.claim, memory_order_acquire);
    for (;;) {
        unsigned long long count = (word >> 20) & 0xFFFFF, index = word & 0xFFFFF;
        if (index >= count) break;
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &word, word + 1,
                                                   memory_order_acq_rel, memory_order_acquire))
            continue; /* word now holds the current value: try again */
        pool.task(pool.context, (int)index);
        atomic_fetch_add_explicit(&pool.tasks_done, 1, memory_order_release);
        word = atomic_load_explicit(&pool.claim, memory_order_acquire);
    }
    inside_task = 0;
}

static void *worker_main(void *arg) {
    worker_index = (int)(long)arg;
    unsigned seen = pool.start_generation;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ROUNDS) { cpu_relax(); continue; }
            pthread_mutex_lock(&pool.lock);
            atomic_fetch_add(&pool.sleepers, 1);
            while (atomic_load(&pool.generation) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.lock);
        }
        seen = gen;
        if (atomic_load(&pool.stopping)) return NULL;
        run_tasks();
    }
}

void pool_shutdown(void) {
    if (pool.size <= 1) { pool.size = pool.size ? 1 : 0; return; }
    atomic_store(&pool.stopping, 1);
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add(&pool.generation, 1);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (int t = 1; t < pool.size; t++) pthread_join(pool.threads[t], NULL);
    atomic_store(&pool.stopping, 0);
    pool.size = 0;
}

void pool_init(int n_threads) {
    if (n_threads <= 0) n_threads = cpu_count();
    if (n_threads > POOL_MAX_THREADS) n_threads = POOL_MAX_THREADS;
    if (pool.size == n_threads) return;
    pool_shutdown();
    pool.size = n_threads;
    pool.start_generation = atomic_load(&pool.generation);
    for (int t = 1; t < n_threads; t++) {
        if (pthread_create(&pool.threads[t], NULL, worker_main, (void *)(long)t) != 0) {
            pool.size = t; /* fewer threads than asked: still correct */
            break;
        }
    }
}

int pool_size(void) {
    if (pool.size == 0) pool_init(0);
    return pool.size;
}

int pool_worker_index(void) { return worker_index; }

void pool_run(int n_tasks, PoolTask task, void *context) {
    if (n_tasks <= 0) return;
    if (pool.size == 0) pool_init(0);
    if (inside_task || pool.size == 1 || n_tasks == 1) {
        for (int i = 0; i < n_tasks; i++) task(context, i);
        return;
    }
    if (n_tasks >= (1 << 20)) { /* more than the claim word holds: run serially */
        for (int i = 0; i < n_tasks; i++) task(context, i);
        return;
    }
    pool.task = task;
    pool.context = context;
    pool.run_id = (pool.run_id + 1) & 0xFFFFFF;
    atomic_store_explicit(&pool.tasks_done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.claim, (pool.run_id << 40) | ((unsigned long long)n_tasks << 20),
                          memory_order_release);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    run_tasks();
    while (atomic_load_explicit(&pool.tasks_done, memory_order_acquire) < n_tasks) cpu_relax();
}
