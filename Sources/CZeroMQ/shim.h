#ifndef EDGEDISTILL_CZEROMQ_SHIM_H
#define EDGEDISTILL_CZEROMQ_SHIM_H
#include <zmq.h>
#if defined(__linux__)
/* glibc's mallopt: libzmq allocates every large message with malloc, and Collective tunes how
   glibc keeps that memory (AllocatorTuning.swift). */
#include <malloc.h>
#endif
#endif
