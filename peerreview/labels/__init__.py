"""Human gold labels for the exam, made in the browser: choose what to label
(:mod:`~peerreview.labels.select`), label it (:mod:`~peerreview.labels.server`),
export it as exam gold with its selection weights (:mod:`~peerreview.labels.export`)."""
