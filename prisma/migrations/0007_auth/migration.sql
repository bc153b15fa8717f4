-- Access control (issue #11): join tokens and API keys issued through the API. Only the sha256 of each secret is
-- stored; a token or key carries its row's id, so it is looked up by primary key.

-- CreateEnum
CREATE TYPE "api_key_role" AS ENUM ('viewer', 'submitter', 'admin');

-- CreateTable
CREATE TABLE "join_tokens" (
    "id" UUID NOT NULL,
    "label" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "uses" INTEGER NOT NULL DEFAULT 0,
    "max_uses" INTEGER,
    "expires_at" TIMESTAMP(3),
    "revoked_at" TIMESTAMP(3),
    "last_used_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "join_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" UUID NOT NULL,
    "label" TEXT NOT NULL,
    "role" "api_key_role" NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "revoked_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);
