#include "pp_test.h"
static CU_TestInfo tests[] = {CU_TEST_INFO_NULL};
const CU_SuiteInfo pp_suite_as_completed = {"as_completed", NULL, NULL, NULL, NULL, tests};
