export { addObservedCandidates, candidatePriority } from './sdp/observed.js';
