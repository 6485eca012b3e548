# Warnings for our own targets only (never for generated Cap'n Proto code).
add_library(rk_warnings INTERFACE)
target_compile_options(rk_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX,C>:-Wall -Wextra -Wshadow=local -Wno-missing-field-initializers>
  $<$<AND:$<BOOL:${RINGKERNEL_WERROR}>,$<COMPILE_LANGUAGE:CXX,C>>:-Werror>)
# GCC 12 at -O3 (Release) reports -Wrestrict inside libstdc++'s inlined
# std::string copies ("#" + std::to_string(n) and the like): a known false
# positive of that release (GCC bug 105651), which would stop -Werror
# Release builds. Only that warning, only on GCC 12.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
   AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(rk_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
endif()
