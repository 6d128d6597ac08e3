import type { ContactView } from '@tsunagu/protocol';
import { useState } from 'react';
import { useAppState, useAppStore, useBridge } from '../../app/context';
import { EmptyState } from '../../components/Notice';
import {
  channelStatus,
  filterContacts,
  latestChannelOf,
  peerKey,
  selectContacts,
  selectSelected,
} from '../../state/selectors';
import { selectContact } from '../../state/ui';

/**
 * Everyone the policy lets this person reach, with presence and the state of the channel with each.
 * Activating a contact (click, Enter, Space) opens a channel, or shows the one already up.
 *
 * Test hooks: search field labelled "Search contacts"; a `list` named "Contacts" whose items hold one
 * button each, its accessible name starting with the user name ("bob, Offline, Not connected"); the row also has
 * `data-testid="contact"` and `data-user="bob"`, its channel state `data-testid="contact-state"`.
 */
export function ContactList() {
  const contacts = useAppState(selectContacts);
  const [query, setQuery] = useState('');
  const shown = filterContacts(contacts, query);

  return (
    <section className="contacts">
      <h2 className="section-title">Contacts</h2>
      {contacts.length > 0 ? (
        <input
          type="search"
          className="contact-search"
          aria-label="Search contacts"
          placeholder="Search by name"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
      ) : null}
      {contacts.length === 0 ? (
        <EmptyState title="No contacts yet">
          Your administrator&apos;s policy lets you reach nobody so far. Once it does, people appear here.
        </EmptyState>
      ) : shown.length === 0 ? (
        <EmptyState title={`No one matches “${query.trim()}”`} />
      ) : (
        <ul className="contact-list" aria-label="Contacts">
          {shown.map((c) => (
            <ContactRow key={c.aor} contact={c} />
          ))}
        </ul>
      )}
    </section>
  );
}

function ContactRow({ contact }: { contact: ContactView }) {
  const bridge = useBridge();
  const store = useAppStore();
  const peer = peerKey(contact.aor);
  const channel = useAppState((s) => latestChannelOf(s, peer));
  const selected = useAppState(selectSelected) === peer;
  const status = channelStatus(channel, contact.user);
  const online = contact.devices.filter((d) => d.online);
  const presence = contact.online
    ? `Online${online.length > 0 ? ` · ${online.map((d) => d.name).join(', ')}` : ''}`
    : 'Offline';

  return (
    <li>
      <button
        type="button"
        className={`contact${contact.online ? '' : ' contact-offline'}`}
        aria-current={selected ? 'true' : undefined}
        aria-label={`${contact.user}, ${presence}, ${status.label}`}
        data-testid="contact"
        data-user={contact.user}
        onClick={() => void selectContact(bridge, store, contact.user, contact.aor)}
      >
        <span className="contact-name">{contact.user}</span>
        <span className={`presence presence-${contact.online ? 'online' : 'offline'}`}>
          <span className="presence-dot" aria-hidden="true" />
          {presence}
        </span>
        <span className={`contact-state state-${status.kind}`} data-testid="contact-state">
          {status.label}
        </span>
      </button>
    </li>
  );
}
