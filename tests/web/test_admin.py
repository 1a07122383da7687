from sqlalchemy import select

from lifecycle.auth.models import Department, User
from lifecycle.auth.services import get_user
from lifecycle.extensions import db


def test_admin_creates_department_business_and_user(client, login):
    login("admin")
    r = client.post("/admin/departments", data={"code": "kosei", "name": "厚生課"}, follow_redirects=True)
    assert "所属「厚生課」を登録しました" in r.get_data(as_text=True)
    r = client.post("/admin/businesses", data={"code": "welfare", "name": "生活保護に関する事務",
                                               "basis": "住基法別表第5"}, follow_redirects=True)
    assert "利用事務「生活保護に関する事務」を登録しました" in r.get_data(as_text=True)
    r = client.post("/admin/users", data={"login": "kosei1", "name": "厚生 一子", "department": "kosei",
                                          "roles": ["registrar"], "trained_on": "2026-06-01",
                                          "password": "a-long-password-1"}, follow_redirects=True)
    assert "利用者「厚生 一子」を登録しました" in r.get_data(as_text=True)
    assert get_user("kosei1").effective_roles


def test_bad_department_input_changes_nothing(client, login):
    login("admin")
    before = db.session.scalars(select(Department)).all()
    r = client.post("/admin/departments", data={"code": "", "name": "名前"})
    assert "所属コードを入力してください" in r.get_data(as_text=True)
    r = client.post("/admin/departments", data={"code": "shicho", "name": "重複"})
    assert "既に登録されています" in r.get_data(as_text=True)
    assert len(db.session.scalars(select(Department)).all()) == len(before)


def test_grant_and_self_grant_through_pages(client, login):
    login("admin")
    r = client.post("/admin/users/registrar/roles", data={"role": "security_manager"}, follow_redirects=True)
    assert "権限を付与しました" in r.get_data(as_text=True)
    r = client.post("/admin/users/admin/roles", data={"role": "auditor"}, follow_redirects=True)
    assert "自分自身に権限を付与" in r.get_data(as_text=True)
    r = client.post("/admin/users/registrar/roles", data={"role": "bulk_operator"}, follow_redirects=True)
    assert "市町課" in r.get_data(as_text=True)
    db.session.expire_all()
    assert {g.role.value for g in get_user("registrar").grants} == {"registrar", "security_manager"}


def test_training_date_gate_through_pages(client, login):
    login("admin")
    client.post("/admin/users/registrar/training", data={"trained_on": ""})
    db.session.expire_all()
    assert get_user("registrar").effective_roles == set()
    r = client.post("/admin/users/registrar/training", data={"trained_on": "2099-01-01"}, follow_redirects=True)
    assert "未来の日付" in r.get_data(as_text=True)


def test_short_password_refused_on_user_form(client, login):
    login("admin")
    r = client.post("/admin/users", data={"login": "weak1", "name": "弱 一", "department": "zeimu",
                                          "password": "short"})
    assert r.status_code == 422 and "12文字以上" in r.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.login == "weak1")) is None
