import type { ComponentChildren } from 'preact';
import { navigate } from '../router';

/** An in-app link: a real anchor (middle-click opens a tab) that navigates without reloading. */
export function Link(props: { href: string; class?: string; children: ComponentChildren; id?: string }) {
  return (
    <a
      href={props.href}
      class={props.class}
      id={props.id}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
        e.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}
