/**
 * The grades service (`/services/grades/`, gradehub.hub.grades.service) as the lab reads it:
 * the logged-in student's deadlines, extensions and the penalty a submission now would cost.
 *
 * The lab asks its own server (`<server>/gradehub/api/me`, gradehub.hub.labserver), which asks
 * the service with the server's token: no login to the service, no cookie of another path.
 */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IPenalty {
  late_hours: number;
  share: number;
  points: number;
  max_points: number;
}

export interface ISheet {
  id: string;
  title?: string;
  due: string | null;
  due_applied: string | null;
  extension: string | null;
  late_policy?: string;
  penalty_now?: IPenalty | null;
  status?: string;
  submitted_at?: string | null;
  late_hours?: number | null;
  late_penalty?: number | null;
}

export interface IMe {
  student: string;
  course?: { id?: string; title?: string; timezone?: string };
  assignments: ISheet[];
}

/** The hub's base URL (`/` or a prefix), or null outside a hub. */
export function hubBase(): string | null {
  const hubPrefix = PageConfig.getOption('hubPrefix');
  if (!hubPrefix) {
    return null;
  }
  // hubPrefix is "<base>hub/"
  return hubPrefix.replace(/hub\/?$/, '');
}

/** The grades page, or null when the lab does not run on a hub. */
export function gradesPageUrl(): string | null {
  const base = hubBase();
  return base === null ? null : URLExt.join(base, 'services', 'grades') + '/';
}

/** The logged-in student's sheets; null if the grades service cannot tell. */
export async function fetchMe(): Promise<IMe | null> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'gradehub', 'api', 'me');
  try {
    const response = await ServerConnection.makeRequest(url, { cache: 'no-store' }, settings);
    if (!response.ok) {
      console.warn(`gradehub: ${url} answered ${response.status}; deadlines are not shown`);
      return null;
    }
    const data = (await response.json()) as IMe & { unavailable?: string };
    if (data.unavailable) {
      console.info(`gradehub: no deadlines: ${data.unavailable}`);
    }
    return Array.isArray(data.assignments) && data.assignments.length ? data : null;
  } catch (reason) {
    console.warn(`gradehub: ${url} did not answer; deadlines are not shown`, reason);
    return null;
  }
}

/** A time in the course's time zone (the browser's when the course names none or a bad one). */
export function formatTime(iso: string, timeZone?: string): string {
  const when = new Date(iso);
  if (isNaN(when.getTime())) {
    return iso;
  }
  const options: Intl.DateTimeFormatOptions = {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'short'
  };
  try {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone }).format(when);
  } catch {
    return new Intl.DateTimeFormat(undefined, options).format(when);
  }
}

/** "2 days 3 h", "45 min" */
export function formatHours(hours: number): string {
  if (hours < 1) {
    return `${Math.max(1, Math.round(hours * 60))} min`;
  }
  const days = Math.floor(hours / 24);
  const rest = Math.round(hours - days * 24);
  if (days === 0) {
    return `${rest} h`;
  }
  return rest ? `${days} day${days > 1 ? 's' : ''} ${rest} h` : `${days} day${days > 1 ? 's' : ''}`;
}

export function formatShare(share: number): string {
  return `${Math.round(share * 1000) / 10} %`;
}

function formatPoints(points: number): string {
  return `${Math.round(points * 100) / 100}`;
}

/** One line under a sheet in the Assignment List: its deadline, extension, lateness.
 * `submitted`: the sheet is in the list's submitted part (the grades service learns of a
 * submission only when the instructor collects it). */
export function deadlineLine(sheet: ISheet, timeZone?: string, submitted = false): string {
  const parts: string[] = [];
  const applied = sheet.due_applied || sheet.due;
  if (!applied) {
    return 'no deadline';
  }
  parts.push(`due ${formatTime(applied, timeZone)}`);
  if (sheet.extension && sheet.due && sheet.due_applied && sheet.due_applied !== sheet.due) {
    parts.push(`extended from ${formatTime(sheet.due, timeZone)}`);
  }
  if (sheet.submitted_at) {
    const late = sheet.late_hours || 0;
    if (late > 0) {
      const penalty = sheet.late_penalty ? `, penalty ${formatPoints(sheet.late_penalty)} points` : '';
      parts.push(`submitted ${formatHours(late)} late${penalty}`);
    }
  } else if (!submitted && sheet.penalty_now && sheet.penalty_now.late_hours > 0) {
    parts.push(
      `past the deadline: submitting now costs ${formatShare(sheet.penalty_now.share)} of the points`
    );
  }
  return parts.join(' · ');
}

/** What the late-submission dialog says, or null when a submission now is on time. */
export function lateWarning(sheet: ISheet, timeZone?: string): string[] | null {
  const penalty = sheet.penalty_now;
  if (!penalty || !(penalty.late_hours > 0)) {
    return null;
  }
  const applied = sheet.due_applied || sheet.due;
  const lines = [
    `The deadline for ${sheet.title ? `${sheet.id} (${sheet.title})` : sheet.id} was ` +
      `${applied ? formatTime(applied, timeZone) : 'earlier'}` +
      `${sheet.extension ? ', with your extension' : ''}.`,
    `Submitting now is ${formatHours(penalty.late_hours)} late.`
  ];
  if (penalty.share > 0) {
    lines.push(
      `Late penalty: ${formatShare(penalty.share)} of the points ` +
        `(${formatPoints(penalty.points)} of ${formatPoints(penalty.max_points)})` +
        `${sheet.late_policy ? `; the policy: ${sheet.late_policy}` : ''}.`
    );
  } else {
    lines.push('It is within the grace period: no penalty applies.');
  }
  if (sheet.extension) {
    lines.push(`Your extension: ${sheet.extension}.`);
  }
  return lines;
}
