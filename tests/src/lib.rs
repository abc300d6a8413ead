//! End-to-end suites of the vlb operator (filled by the app work).
