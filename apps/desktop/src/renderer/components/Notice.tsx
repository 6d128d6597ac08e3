import type { ReactNode } from 'react';

/** An empty state or a hint: a calm message where content would be. */
export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty-state">
      <p className="empty-state-title">{title}</p>
      {children ? <p className="empty-state-body">{children}</p> : null}
    </div>
  );
}

/** A failure, announced to screen readers; the text is the terminal's own message. */
export function ErrorMessage({ children, onDismiss }: { children: ReactNode; onDismiss?: () => void }) {
  return (
    <div className="error-message" role="alert">
      <span>{children}</span>
      {onDismiss ? (
        <button type="button" className="button-quiet" onClick={onDismiss} aria-label="Dismiss error">
          ×
        </button>
      ) : null}
    </div>
  );
}
