/* A persistent pool of worker threads: kernels split their work into tasks and pool_run hands the
 * tasks out until all are done. Workers spin briefly between runs (kernels at B=4, T=64 last well
 * under a millisecond, so waking sleeping threads would cost more than the work), then sleep.
 * Results are deterministic as long as tasks write disjoint outputs and any reduction across tasks
 * is combined by the caller in task order. */
#ifndef CGPT_THREADPOOL_H
#define CGPT_THREADPOOL_H

/* Most threads a pool has (pool_init caps n_threads here): per-thread buffers may be sized by it. */
#define POOL_MAX_THREADS 256

/* Starts (or resizes to) n_threads threads including the caller; 0 means one per online CPU. */
void pool_init(int n_threads);
/* Number of threads that run tasks (>= 1), starting the pool with one per CPU if needed. */
int pool_size(void);
/* Stops the workers (for tests and clean exits; pool_init can start it again). */
void pool_shutdown(void);

typedef void (*PoolTask)(void *context, int task_index);
/* Runs task(context, i) for i in [0, n_tasks), spread over the pool, and returns when all are done.
 * The caller works too. A pool_run issued from inside a task runs its tasks serially. */
void pool_run(int n_tasks, PoolTask task, void *context);
/* Index in [0, pool_size()) of the calling thread while it runs a task (0 for the caller):
 * lets kernels keep per-thread scratch buffers. */
int pool_worker_index(void);
/* Number of CPUs online. */
int cpu_count(void);

#endif
