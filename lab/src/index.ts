/**
 * gradehub in the student's JupyterLab.
 *
 * nbgrader's Assignment List (the plugin `@jupyter/nbgrader:assignment-list`, widget id
 * `nbgrader-assignment-list`) lives in the left sidebar: the shell's layout setting puts it there
 * (gradehub.hub.singleuser writes that override), and this plugin opens it on a first visit, so
 * it is there by default; afterwards JupyterLab's layout restorer brings it back after a reload.
 * On top of nbgrader's list:
 *
 * - the file browser is refreshed whenever the list changes (a fetched sheet or fetched feedback
 *   shows at once);
 * - every sheet shows its deadline, an extension, and how late a submission now would be
 *   (from the grades service, see ./grades.ts);
 * - *Submit* after the deadline asks first and says which penalty applies;
 * - the grades page (`/services/grades/`) is one click away: the list's toolbar, the Course
 *   menu, the launcher and the command palette.
 *
 * Everything here builds on nbgrader 0.9's list markup (`#released_assignments_list`,
 * `#fetched_assignments_list`, `#submitted_assignments_list`, one `.list_item` per sheet); the
 * hub test (grader_tests/test_hub_browser.py) drives it in Chromium.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, MainAreaWidget, showDialog } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { launchIcon, listIcon, ToolbarButton } from '@jupyterlab/ui-components';
import { Menu, Widget } from '@lumino/widgets';

import { deadlineLine, fetchMe, gradesPageUrl, IMe, ISheet, lateWarning } from './grades';

const LIST_ID = 'nbgrader-assignment-list';
const OPEN_LIST = 'nbgrader:open-assignment-list';
const OPEN_GRADES = 'gradehub:open-grades';
const LISTS = ['released_assignments_list', 'fetched_assignments_list', 'submitted_assignments_list'];
const CONFIRMED = 'gradehubConfirmed';
const ME_MAX_AGE_MS = 30_000;

class Deadlines {
  private me: IMe | null = null;
  private loaded = 0;
  private pending: Promise<IMe | null> | null = null;

  async get(fresh = false): Promise<IMe | null> {
    if (!fresh && this.me && Date.now() - this.loaded < ME_MAX_AGE_MS) {
      return this.me;
    }
    if (!this.pending) {
      this.pending = fetchMe().then(me => {
        this.pending = null;
        if (me) {
          this.me = me;
          this.loaded = Date.now();
        }
        return me;
      });
    }
    return this.pending;
  }

  sheet(me: IMe | null, id: string): ISheet | undefined {
    return me?.assignments.find(a => a.id === id);
  }
}

/** The sheet id a top-level row of nbgrader's list stands for. */
function rowAssignment(row: Element): string | null {
  const name = row.querySelector(':scope > .col-md-12 > .item_name');
  const label = name?.firstElementChild ?? name;
  const text = label?.textContent?.trim();
  return text ? text : null;
}

function topRows(list: Element): Element[] {
  return Array.from(list.querySelectorAll(':scope > .list_item'));
}

/** Annotate every sheet of the list with its deadline line (once per row nbgrader draws). */
async function showDeadlines(node: HTMLElement, deadlines: Deadlines, fresh = false): Promise<void> {
  const rows = LISTS.flatMap(id => {
    const list = node.querySelector(`#${id}`);
    return list ? topRows(list) : [];
  }).filter(row => !row.querySelector(':scope > .gradehub-deadline'));
  if (!rows.length) {
    return;
  }
  const me = await deadlines.get(fresh);
  if (!me) {
    return;
  }
  for (const row of rows) {
    const submitted = !!row.closest('#submitted_assignments_list');
    const id = rowAssignment(row);
    const sheet = id ? deadlines.sheet(me, id) : undefined;
    if (!sheet || row.querySelector(':scope > .gradehub-deadline')) {
      continue;
    }
    const line = document.createElement('div');
    line.className = 'gradehub-deadline';
    const late = !submitted && !sheet.submitted_at && (sheet.penalty_now?.late_hours ?? 0) > 0;
    if (late) {
      line.classList.add('gradehub-deadline-past');
    }
    line.textContent = deadlineLine(sheet, me.course?.timezone, submitted);
    if (sheet.extension) {
      line.title = `Extension: ${sheet.extension}`;
    }
    const header = row.querySelector(':scope > .col-md-12');
    if (header) {
      header.after(line);
    } else {
      row.append(line);
    }
  }
}

/** Submitting after the deadline asks first: a capture-phase listener sees the click before
 * nbgrader's button does, and clicks again once the student confirmed. */
function confirmLateSubmissions(node: HTMLElement, deadlines: Deadlines): void {
  node.addEventListener(
    'click',
    event => {
      const button = (event.target as Element | null)?.closest('button');
      if (!button || !button.closest('#fetched_assignments_list') || button.textContent?.trim() !== 'Submit') {
        return;
      }
      if (button.dataset[CONFIRMED] === 'yes') {
        delete button.dataset[CONFIRMED];
        return;
      }
      const row = button.closest('#fetched_assignments_list > .list_item');
      const id = row ? rowAssignment(row) : null;
      if (!id) {
        return;
      }
      event.preventDefault();
      event.stopImmediatePropagation();
      void (async () => {
        const me = await deadlines.get(true);
        const sheet = deadlines.sheet(me, id);
        const warning = sheet ? lateWarning(sheet, me?.course?.timezone) : null;
        if (warning) {
          const body = document.createElement('div');
          body.className = 'gradehub-late-warning';
          for (const text of warning) {
            const p = document.createElement('p');
            p.textContent = text;
            body.append(p);
          }
          const result = await showDialog({
            title: `Submit ${id} after the deadline?`,
            body: new Widget({ node: body }),
            buttons: [
              Dialog.cancelButton({ label: 'Cancel' }),
              Dialog.warnButton({ label: 'Submit late' })
            ]
          });
          if (!result.button.accept) {
            return;
          }
        }
        button.dataset[CONFIRMED] = 'yes';
        button.click();
      })();
    },
    true
  );
}

function enhance(
  app: JupyterFrontEnd,
  widget: Widget,
  deadlines: Deadlines,
  fileBrowser: IDefaultFileBrowser | null
): void {
  if (widget.hasClass('gradehub-assignments')) {
    return;
  }
  widget.addClass('gradehub-assignments');
  widget.title.icon = listIcon;
  widget.title.caption = 'Assignments: fetch, submit, feedback and deadlines';
  if (widget instanceof MainAreaWidget && gradesPageUrl()) {
    const button = new ToolbarButton({
      icon: launchIcon,
      label: 'Grades and feedback',
      tooltip: 'Open your grades page (points, comments, late penalties, course total)',
      onClick: () => void app.commands.execute(OPEN_GRADES)
    });
    button.addClass('gradehub-grades-button');
    widget.toolbar.addItem('gradehub-grades', button);
  }
  const node = widget.node;
  confirmLateSubmissions(node, deadlines);
  let scheduled = 0;
  const observer = new MutationObserver(mutations => {
    const ours = mutations.every(m =>
      Array.from(m.addedNodes).every(n => (n as Element).classList?.contains('gradehub-deadline'))
    );
    if (ours || scheduled) {
      return;
    }
    scheduled = window.setTimeout(() => {
      scheduled = 0;
      // nbgrader redrew its lists after a fetch, a submission, fetched feedback or a refresh:
      // what it wrote to the home folder shows in the file browser now, not at its next poll
      void fileBrowser?.model.refresh();
      // after a fetch or a submission, what the grades service says now
      void showDeadlines(node, deadlines, true);
    }, 100);
  });
  for (const id of LISTS) {
    const list = node.querySelector(`#${id}`);
    if (list) {
      observer.observe(list, { childList: true });
    }
  }
  widget.disposed.connect(() => observer.disconnect());
  void showDeadlines(node, deadlines);
}

function findListWidget(shell: JupyterFrontEnd.IShell): Widget | undefined {
  for (const area of ['left', 'main', 'right'] as const) {
    for (const widget of shell.widgets(area)) {
      if (widget.id === LIST_ID) {
        return widget;
      }
    }
  }
  return undefined;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: '@gradehub/lab:assignments',
  description: 'The Assignment List in the left sidebar, with deadlines, late-submission confirmation and the grades page.',
  autoStart: true,
  optional: [ILabShell, IDefaultFileBrowser, IMainMenu, ILauncher, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell | null,
    fileBrowser: IDefaultFileBrowser | null,
    mainMenu: IMainMenu | null,
    launcher: ILauncher | null,
    palette: ICommandPalette | null
  ) => {
    const deadlines = new Deadlines();
    const gradesUrl = gradesPageUrl();

    app.commands.addCommand(OPEN_GRADES, {
      label: 'Grades and Feedback',
      caption: 'Your grades page: points per task, tutor comments, late penalties, course total',
      icon: launchIcon,
      isVisible: () => gradesUrl !== null,
      execute: () => {
        if (gradesUrl) {
          window.open(gradesUrl, '_blank', 'noopener');
        }
      }
    });
    if (gradesUrl) {
      palette?.addItem({ command: OPEN_GRADES, category: 'Course' });
      launcher?.add({ command: OPEN_GRADES, category: 'Course', rank: 1 });
    }
    if (mainMenu) {
      const menu = new Menu({ commands: app.commands });
      menu.id = 'gradehub-course-menu';
      menu.title.label = 'Course';
      if (app.commands.hasCommand(OPEN_LIST)) {
        menu.addItem({ command: OPEN_LIST });
      }
      menu.addItem({ command: OPEN_GRADES });
      mainMenu.addMenu(menu, true, { rank: 90 });
    }

    if (!labShell) {
      return; // Notebook 7's tree page has a list of its own
    }
    labShell.layoutModified.connect(() => {
      const widget = findListWidget(labShell);
      if (widget) {
        enhance(app, widget, deadlines, fileBrowser);
      }
    });
    void app.restored.then(async () => {
      if (!app.commands.hasCommand(OPEN_LIST)) {
        return;
      }
      let widget = findListWidget(labShell);
      if (!widget) {
        // a first visit (nothing to restore): open it; the layout setting puts it in the sidebar
        await app.commands.execute(OPEN_LIST);
        widget = findListWidget(labShell);
      }
      if (widget) {
        enhance(app, widget, deadlines, fileBrowser);
      }
    });
  }
};

export default plugin;
