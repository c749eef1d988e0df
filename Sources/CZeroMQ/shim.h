#ifndef EDGEDISTILL_CZEROMQ_SHIM_H
#define EDGEDISTILL_CZEROMQ_SHIM_H
#include <zmq.h>
#endif
