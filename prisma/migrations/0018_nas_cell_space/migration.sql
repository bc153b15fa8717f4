-- The cell search space of NAS jobs (issue #16): each node keeps the architecture weights α its training learned
-- (DARTS, SNAS) with their Adam moments, which its children inherit; JSON text (exact floats, as task payloads).
-- Null for chain-space nodes.
-- AlterTable
ALTER TABLE "nas_nodes" ADD COLUMN     "arch" TEXT;
