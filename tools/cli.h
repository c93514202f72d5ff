/* cli.h — shared option/usage/error helper for the tools (being written). */
#ifndef FCS_CLI_H
#define FCS_CLI_H
#include "fcs/fcs.h"
#endif
