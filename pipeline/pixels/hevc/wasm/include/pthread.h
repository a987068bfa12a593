/*
 * pthread.h for a single-threaded WebAssembly build of libde265. The
 * decoder never starts its worker threads (de265_start_worker_threads is
 * not called), so its locks have nothing to exclude and are no-ops, and
 * its condition variables could only be waited on for good: a wait traps
 * rather than spin. pthread_create fails. The types are wasi-libc's.
 */
#ifndef THUMBPIPE_PTHREAD_H
#define THUMBPIPE_PTHREAD_H

#include <sys/types.h>

static inline int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*f)(void *), void *arg) {
	(void)t; (void)a; (void)f; (void)arg;
	return 11; /* EAGAIN: no threads here */
}
static inline int pthread_join(pthread_t t, void **r) { (void)t; (void)r; return 0; }
static inline int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a) { (void)m; (void)a; return 0; }
static inline int pthread_mutex_destroy(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_lock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_unlock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a) { (void)c; (void)a; return 0; }
static inline int pthread_cond_destroy(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) {
	(void)c; (void)m;
	__builtin_trap(); /* nothing else runs that could signal it */
}
static inline int pthread_cond_signal(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_broadcast(pthread_cond_t *c) { (void)c; return 0; }

#endif
