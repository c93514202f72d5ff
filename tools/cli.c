/* cli.c — shared option/usage/error helper for the tools (being written). */
#include "cli.h"
