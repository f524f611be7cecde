/* Fault injection state (built only with CORIO_FAULT_INJECTION; see fault.h). */
#include "fault.h"

#ifdef CORIO_FAULT_INJECTION
#include <string.h>

static struct {
    unsigned skip, count, fired;
    int value;
} faults[CORIO_FAULT_COUNT];

void corio_fault_arm(enum corio_fault f, unsigned skip, unsigned count, int value)
{
    faults[f].skip = skip;
    faults[f].count = count;
    faults[f].fired = 0;
    faults[f].value = value;
}

void corio_fault_reset(void)
{
    memset(faults, 0, sizeof faults);
}

unsigned corio_fault_fired(enum corio_fault f)
{
    return faults[f].fired;
}

bool corio_fault_hit(enum corio_fault f, int *value)
{
    if (faults[f].count == 0)
        return false;
    if (faults[f].skip > 0) {
        faults[f].skip--;
        return false;
    }
    faults[f].count--;
    faults[f].fired++;
    if (value != NULL)
        *value = faults[f].value;
    return true;
}
#else
typedef int corio_fault_unused; /* ISO C wants a translation unit to declare something */
#endif
