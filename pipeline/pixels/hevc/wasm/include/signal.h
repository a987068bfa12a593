/*
 * signal.h: libde265's motion.cc and slice.cc include it and use none of
 * it; wasi-libc's refuses to be included without signal emulation.
 */
