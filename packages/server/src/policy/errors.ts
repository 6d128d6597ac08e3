/** An invalid policy statement (selector, rule, group, policy file); the message is one precise line. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}
