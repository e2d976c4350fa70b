//! Whisper-style log-mel front end (80 Slaney mel bins, 25 ms window, 10 ms hop).
