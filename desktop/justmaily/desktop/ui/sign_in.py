"""Sign-in: server address (remembered), e-mail, password, and the workspace when there are several."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from justmaily.desktop.engine.account import Account
from justmaily.desktop.engine.credentials import Profile
from justmaily.desktop.engine.errors import DesktopError
from justmaily.desktop.ui.tasks import Tasks

SignIn = Callable[[str, str, str, str | None], Awaitable[Account]]


class SignInDialog(QDialog):
    def __init__(
        self,
        tasks: Tasks,
        sign_in: SignIn,
        remembered: Profile | None = None,
        parent: QWidget | None = None,
        *,
        notice: str = "",
    ) -> None:
        """`notice` says why the form is shown (e.g. the remembered sign-in stopped working)."""
        super().__init__(parent)
        self.setWindowTitle("Sign in to JustMaily")
        self.setMinimumWidth(440)  # room for a server address and an e-mail address
        self.tasks = tasks
        self._sign_in = sign_in
        self.account: Account | None = None
        self.server = QLineEdit(remembered.server if remembered else "http://127.0.0.1:8000")
        self.server.setAccessibleName("Server address")
        self.email = QLineEdit(remembered.email if remembered else "")
        self.email.setAccessibleName("E-mail")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Password")
        self.workspace = QComboBox()
        self.workspace.setAccessibleName("Workspace")
        self.workspace.addItem("(the first I joined)", None)
        if remembered:
            for slug in remembered.workspaces:
                self.workspace.addItem(slug, slug)
            if remembered.workspace:
                self.workspace.setCurrentIndex(max(0, self.workspace.findData(remembered.workspace)))
        self.error = QLabel(notice)
        self.error.setObjectName("sign-in-error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b91c1c;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign in")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("&Server", self.server)
        form.addRow("&E-mail", self.email)
        form.addRow("&Password", self.password)
        form.addRow("&Workspace", self.workspace)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        (self.password if remembered else self.server).setFocus()

    def submit(self) -> None:
        self.error.setText("Signing in…")
        self.buttons.setEnabled(False)
        self.tasks.spawn(self._submit)

    async def _submit(self) -> None:
        try:
            self.account = await self._sign_in(
                self.server.text(), self.email.text(), self.password.text(), self.workspace.currentData()
            )
        except DesktopError as exc:
            self.error.setText(str(exc))
            self.buttons.setEnabled(True)
            return
        self.password.clear()
        self.accept()
