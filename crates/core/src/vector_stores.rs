//! Vector stores: the store trait over vector stores, their files and batches, and the rules that keep their counts honest.
