import { test } from '@playwright/test';
import { electronExecutable, electronLauncher, NO_ELECTRON } from '../fixtures/apps.js';
import { defineScenario } from '../scenario.js';

/** The same scenario in the Electron shell, when a binary is present. */
test.skip(!electronExecutable(), NO_ELECTRON);
defineScenario(() => electronLauncher);
