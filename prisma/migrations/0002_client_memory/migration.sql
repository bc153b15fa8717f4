-- MIFA and FedVarp keep one memory vector per client (a float32 blob) and the sum of all of them per round.
ALTER TABLE "client_states" ADD COLUMN "memory_hash" TEXT;
ALTER TABLE "checkpoints" ADD COLUMN "memory_sum_hash" TEXT;
