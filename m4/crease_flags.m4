# crease_flags.m4 -- small compiler probes of our own.

# CREASE_CHECK_CFLAGS(FLAGS, ACTION-IF-OK, ACTION-IF-NOT)
# Succeeds when the C compiler accepts FLAGS (with warnings as errors, so a
# flag that is only warned about counts as unsupported).
AC_DEFUN([CREASE_CHECK_CFLAGS], [
  AS_VAR_PUSHDEF([cache], [crease_cv_cflags_$1])
  AC_CACHE_CHECK([whether $CC accepts $1], [cache], [
    crease_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS $1 -Werror"
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
      [AS_VAR_SET([cache], [yes])], [AS_VAR_SET([cache], [no])])
    CFLAGS=$crease_save_CFLAGS])
  AS_VAR_IF([cache], [yes], [$2], [$3])
  AS_VAR_POPDEF([cache])
])

# CREASE_CHECK_SIMD(NAME, FLAGS, HEADER, TEST-BODY)
# Defines NAME_CFLAGS and the automake conditional HAVE_NAME when the
# compiler builds TEST-BODY (a function body using the intrinsics of
# HEADER) with FLAGS (which may be empty: NEON is in the AArch64 baseline).
# This only says the compiler can build the variant; whether the processor
# that runs it can execute it is decided at run time by the plugin's score().
AC_DEFUN([CREASE_CHECK_SIMD], [
  AC_CACHE_CHECK([whether $CC builds $1 code m4_ifval([$2], [with $2], [with no extra flags])],
                 [crease_cv_simd_$1], [
    crease_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS $2"
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <$3>]], [$4])],
      [crease_cv_simd_$1=yes], [crease_cv_simd_$1=no])
    CFLAGS=$crease_save_CFLAGS])
  AS_IF([test "x$crease_cv_simd_$1" = xyes], [AC_SUBST([$1_CFLAGS], ["$2"])])
  AM_CONDITIONAL([HAVE_$1], [test "x$crease_cv_simd_$1" = xyes])
])
