//! Pure domain of the vlb operator.
