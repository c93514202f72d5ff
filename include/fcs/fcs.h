/*
 * fcs/fcs.h — the whole libfcs public API. Include this one header.
 */
#ifndef FCS_FCS_H
#define FCS_FCS_H
#include "fcs/common.h"
#include "fcs/matrix.h"
#include "fcs/comp.h"
#include "fcs/reader.h"
#include "fcs/writer.h"
#include "fcs/transform.h"
#include "fcs/gate.h"
#include "fcs/gatefile.h"
#include "fcs/stats.h"
#include "fcs/summary.h"
#include "fcs/synth.h"
#include "fcs/plot.h"
#include "fcs/report.h"
#endif
