/*
 * fcs/fcs.h — the whole libfcs public API. Include this one header.
 */
#ifndef FCS_FCS_H
#define FCS_FCS_H
#include "fcs/common.h"
#include "fcs/matrix.h"
#include "fcs/reader.h"
#include "fcs/writer.h"
#endif
