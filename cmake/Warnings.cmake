# Warnings for our own targets only (never for generated Cap'n Proto code).
add_library(rk_warnings INTERFACE)
target_compile_options(rk_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX,C>:-Wall -Wextra -Wshadow=local -Wno-missing-field-initializers>
  $<$<AND:$<BOOL:${RINGKERNEL_WERROR}>,$<COMPILE_LANGUAGE:CXX,C>>:-Werror>)
