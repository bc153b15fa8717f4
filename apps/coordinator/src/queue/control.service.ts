import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { RoundsService } from '../rounds/rounds.service';
import { TasksService } from '../tasks/tasks.service';
import { QueueService } from './queue.service';

/**
 * Starts the coordinator's control loop once every handler exists: federated rounds (RoundsService) and
 * task-driven jobs (TasksService) share the one control queue, which runs one job at a time, and both resume
 * what a previous process left unfinished.
 */
@Injectable()
export class ControlService implements OnApplicationBootstrap {
  constructor(
    private readonly queues: QueueService,
    private readonly rounds: RoundsService,
    private readonly tasks: TasksService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.queues.startControlWorker({ ...this.rounds.controlHandlers(), ...this.tasks.controlHandlers() });
    await this.rounds.resume();
    await this.tasks.resume();
  }
}
