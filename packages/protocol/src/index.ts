export { addObservedCandidates, candidatePriority } from './sdp/observed.js';
export { JOIN_LINK_VERSION, JoinLinkError, formatJoinLink, parseJoinLink } from './join-link.js';
export type { JoinLink } from './join-link.js';
