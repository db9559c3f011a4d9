#ifndef OUTBOX_CZLIB_SHIM_H
#define OUTBOX_CZLIB_SHIM_H
#include <zlib.h>
#endif
