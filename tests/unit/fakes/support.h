/* Host-side stand-ins for core services used by the code under test. */
#ifndef UNIT_SUPPORT_H
#define UNIT_SUPPORT_H

#include "hv/base/log.h"

/* Messages logged per level since the last unit_log_reset(). */
extern unsigned unit_log_count[4];
extern char unit_log_last[512];
void unit_log_reset(void);

#endif
