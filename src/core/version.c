/*
 * pp_version: the version this copy of the library was built as (the header's PP_VERSION_*
 * at the library's build time, which CMakeLists.txt checks against the project's version).
 */
#include "pp_core.h"

void pp_version(int *major, int *minor, int *patch)
{
    if (major)
        *major = PP_VERSION_MAJOR;
    if (minor)
        *minor = PP_VERSION_MINOR;
    if (patch)
        *patch = PP_VERSION_PATCH;
}
