#include "pp_test.h"
static CU_TestInfo tests[] = {CU_TEST_INFO_NULL};
const CU_SuiteInfo pp_suite_initializer = {"initializer", NULL, NULL, NULL, NULL, tests};
