/*
 * pp_status_str and the executor options defaults.
 */
#include "pp_core.h"

const char *pp_status_str(pp_status s)
{
    switch (s) {
    case PP_OK: return "PP_OK";
    case PP_END: return "PP_END";
    case PP_EINVAL: return "PP_EINVAL";
    case PP_ENOMEM: return "PP_ENOMEM";
    case PP_ETIMEDOUT: return "PP_ETIMEDOUT";
    case PP_ECANCELLED: return "PP_ECANCELLED";
    case PP_ESHUTDOWN: return "PP_ESHUTDOWN";
    case PP_EBROKEN: return "PP_EBROKEN";
    case PP_ETASK: return "PP_ETASK";
    case PP_ENOTASK: return "PP_ENOTASK";
    case PP_ESTATE: return "PP_ESTATE";
    case PP_ENOTSUP: return "PP_ENOTSUP";
    case PP_ESYS: return "PP_ESYS";
    }
    return "PP_UNKNOWN";
}
