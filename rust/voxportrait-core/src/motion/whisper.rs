//! Whisper tiny.en audio encoder (candle-transformers), chunked for long audio.
