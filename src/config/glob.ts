/**
 * Path patterns, for cgroup paths in triggers and for executables in [protect]: "*" matches
 * within one path component, "?" one character of it, and a "**" component any number of
 * components (none included). "/system.slice/*" matches every direct child of system.slice, not
 * system.slice itself; "/opt/app-*" matches /opt/app-2 and not /opt/app-2/bin/app. Every other
 * character is itself. Pure.
 */
export function isPathGlob(pattern: string): boolean {
  return /[*?]/.test(pattern);
}

export function pathGlobToRegExp(pattern: string): RegExp {
  const parts = pattern.split("/").filter((p) => p !== "");
  let src = "";
  for (const part of parts) {
    if (part === "**") {
      src += "(?:/[^/]+)*";
      continue;
    }
    const body = part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]");
    src += `/(?=[^/])${body}`; // a component is never empty
  }
  // A pattern of nothing but "**" matches the root as well ("none included").
  return new RegExp(parts.every((p) => p === "**") ? `^(?:/|${src})$` : `^${src}$`);
}
