// Imported first by the CLI's entry point, so it runs before any other module is evaluated:
// no young-generation growth while the program loads (see holdYoungGenerationGrowth).
// `berth serve` keeps the hold until the server's cap takes over; the entry point releases it
// before any other command runs.
import { holdYoungGenerationGrowth } from '../core/young-generation-cap.js';

export const releaseYoungGenerationGrowth = holdYoungGenerationGrowth();
