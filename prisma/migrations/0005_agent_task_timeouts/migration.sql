-- When a task last timed out on an agent: until its next heartbeat, tasks go to other agents first.
ALTER TABLE "agents" ADD COLUMN     "last_task_timeout_at" TIMESTAMP(3);
