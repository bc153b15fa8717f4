-- Update policy (issue #12): each round records the norm bound it applied and its reference norm, and how many updates
-- it rejected and clipped; each participation row the multiplier of a clipped update (a rejected one has absence
-- 'rejected'); an update refused on arrival (absolute bound) is an answer with rejected = true and no blob.
ALTER TABLE "rounds" ADD COLUMN     "norm_bound" DOUBLE PRECISION,
ADD COLUMN     "norm_reference" DOUBLE PRECISION,
ADD COLUMN     "rejected" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "clipped" INTEGER NOT NULL DEFAULT 0;

ALTER TABLE "participations" ADD COLUMN     "clip_scale" DOUBLE PRECISION;

ALTER TABLE "updates" ADD COLUMN     "rejected" BOOLEAN NOT NULL DEFAULT false;
