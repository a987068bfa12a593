/*
 * pthread.h for a single-threaded WebAssembly build of dav1d. The decoder
 * is opened with one thread and a frame delay of one, so it never starts a
 * thread; its locks and condition variables have nothing to wait for and
 * are no-ops. pthread_create fails, so a build that did ask for threads
 * would see an error rather than hang.
 */
#ifndef THUMBPIPE_PTHREAD_H
#define THUMBPIPE_PTHREAD_H

#include <stddef.h>

typedef int pthread_t;
typedef int pthread_mutex_t;
typedef int pthread_cond_t;
typedef int pthread_once_t;
typedef struct { size_t stack_size; } pthread_attr_t;

#define PTHREAD_ONCE_INIT 0

static inline int pthread_attr_init(pthread_attr_t *a) { a->stack_size = 0; return 0; }
static inline int pthread_attr_destroy(pthread_attr_t *a) { (void)a; return 0; }
static inline int pthread_attr_setstacksize(pthread_attr_t *a, size_t n) { a->stack_size = n; return 0; }
static inline int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*f)(void *), void *arg) {
	(void)t; (void)a; (void)f; (void)arg;
	return 11; /* EAGAIN: no threads here */
}
static inline int pthread_join(pthread_t t, void **r) { (void)t; (void)r; return 0; }
static inline int pthread_mutex_init(pthread_mutex_t *m, const void *a) { (void)a; *m = 0; return 0; }
static inline int pthread_mutex_destroy(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_lock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_unlock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_cond_init(pthread_cond_t *c, const void *a) { (void)a; *c = 0; return 0; }
static inline int pthread_cond_destroy(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) { (void)c; (void)m; return 0; }
static inline int pthread_cond_signal(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_broadcast(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_once(pthread_once_t *o, void (*f)(void)) {
	if (!*o) { *o = 1; f(); }
	return 0;
}

#endif
